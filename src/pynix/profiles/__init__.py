"""Profiles and generations: ``P -> P-N-link -> /nix/store/...``, switched atomically."""

from .generations import (
    DeleteSpec,
    Generation,
    Profile,
    ProfileError,
    format_generations,
    parse_delete_spec,
    profiles_dir,
    resolve_profile_path,
)

__all__ = [
    "DeleteSpec",
    "Generation",
    "Profile",
    "ProfileError",
    "format_generations",
    "parse_delete_spec",
    "profiles_dir",
    "resolve_profile_path",
]
