# The builder of stdenv.mkDerivation: set up the environment, run the phases.
source "$stdenv/setup"
genericBuild
