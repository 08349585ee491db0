"""The gateway: route a request to a service, authenticate it, parse it from the
botocore model of that service, call the operation, and serialize the result or
the AWS error in the request's protocol."""
