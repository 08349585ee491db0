"""``python -m gureum``: the gureum command."""

from gureum.cli import main

if __name__ == "__main__":
    main()
