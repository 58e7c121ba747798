"""What the tests share: the gRPC provider harness, fault injection, common checks."""
