"""Auth profiles at run time: credentials resolved from Secrets, environment or files (``secrets``), OAuth2
tokens cached and refreshed per worker (``tokens``, ``oauth2``), and the worker's implementation of the roles'
auth port (``profiles``)."""
