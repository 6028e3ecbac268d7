"""Allow ``python -m cbedfeat``."""

from cbedfeat.cli import main

if __name__ == "__main__":
    main()
