"""The reference MLflow proxy: behaves as the production proxy is documented to."""
