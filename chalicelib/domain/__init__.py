"""Pure rules of the service: no AWS, no wall clock. Everything here takes time as an argument."""
