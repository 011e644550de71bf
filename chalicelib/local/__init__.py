"""The local stage: moto's DynamoDB server, the tables, demo data, the API, the page and the
billing driver, all in one process (`make run`). Never imported by the deployed Lambda."""
