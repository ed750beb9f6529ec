"""`python -m mmapi.sandbox [--host H] [--port P] [--config file.json]`: run the sandbox."""

from .server import main

__all__: list[str] = []

if __name__ == "__main__":
    main()
