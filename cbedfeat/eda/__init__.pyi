from .run import run_eda

__all__ = ["run_eda"]
