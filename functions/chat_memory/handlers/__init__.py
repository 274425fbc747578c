"""One module per Lambda function: a resolver with its routes and `lambda_handler`."""
