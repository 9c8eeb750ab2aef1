"""Helpers shared by the per-system files: site facts from the environment, with defaults."""

import os


def site(name: str, default: str = "") -> str:
    """A site path or name: ``ACCEPTANCE_<NAME>`` from the environment, else the config's default."""
    return os.environ.get(f"ACCEPTANCE_{name.upper()}", default)


def account_access(env_var: str) -> list[str]:
    """``-A ACCOUNT`` when the account variable is set. When it is not, the Mask R-CNN check
    stops before submitting with a message naming the variable (extras ``account_env``)."""
    account = os.environ.get(env_var, "")
    return [f"-A {account}"] if account else []


def modules_system(default: str = "lmod") -> str:
    """The site's module system; ``ACCEPTANCE_MODULES_SYSTEM=nomod`` lets this config be listed or
    dry-run on a machine without Lmod (a laptop preparing or reviewing TARA's job scripts)."""
    return os.environ.get("ACCEPTANCE_MODULES_SYSTEM", default)
