class ClawdataError(Exception):
    """An error the user can act on: printed as one message, never as a traceback."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


class CodeLocationNotReady(ClawdataError):
    """The deployment's code location is loading, or its code server does not answer (it is
    restarting after `docker compose up -d --build user_code`): worth waiting for."""


USAGE_ERROR = 2  # a wrong name or argument, as click uses for usage errors
INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT
