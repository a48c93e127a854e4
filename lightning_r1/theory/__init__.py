"""Theory of the Dirac-GAN (Mescheder et al. 2018): vector fields, Jacobians, predicted rates, figures."""

from lightning_r1.theory.dirac import (
    F_PRIME_0,
    F_SECOND_0,
    DiracSetup,
    NotDifferentiableError,
    alternating_invariant,
    contraction,
    critical_gamma,
    eigenvalues,
    jacobian,
    jacobian_closed_form,
    linearised_trajectory,
    log_distance_slope,
    r1_eigenvalues,
    simulate,
    step_matrix,
    vector_field,
)

__all__ = [
    "F_PRIME_0",
    "F_SECOND_0",
    "DiracSetup",
    "NotDifferentiableError",
    "alternating_invariant",
    "contraction",
    "critical_gamma",
    "eigenvalues",
    "jacobian",
    "jacobian_closed_form",
    "linearised_trajectory",
    "log_distance_slope",
    "r1_eigenvalues",
    "simulate",
    "step_matrix",
    "vector_field",
]
