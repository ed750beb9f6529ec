"""`python -m mmapi.receiver --dir DIR [--host H] [--port P]`: run the receiver."""

from .server import main

__all__: list[str] = []

if __name__ == "__main__":
    main()
