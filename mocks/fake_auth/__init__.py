"""The fake auth service: implements contracts/auth-service.yaml in memory."""
