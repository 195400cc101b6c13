"""Small adapters between the domain code and AWS. Each takes a boto3 client as a parameter
(so tests pass moto clients and handlers pass clients built once per process)."""
