"""The backup runner: one cycle of one backup. Ships to AWS Lambda (boto3 + stdlib only)."""
