"""A strict local AWS: moto plus fidelity layers that refuse what AWS refuses."""
