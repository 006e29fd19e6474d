/// The floating-point format the BLAS kernel stores its data in and runs its GEMMs in.
///
/// Double is the default and reproduces the course's numbers. Single halves the memory
/// the stacked data take and roughly doubles the GEMM rate (SGEMM moves half the bytes and
/// does twice the lanes per instruction); everything summed over users (log-likelihood,
/// n̂_j, Σ p‖x‖², Σ p|C_u|) and everything after the GEMMs (log-densities, logsumexp,
/// the M-step) stays in Double.
///
/// Single precision loses digits where the squared distance is a small difference of large
/// terms: ‖x_{C_u} − μ_{j,C_u}‖² = ‖x_u‖² − 2 x_u·μ_j + m_u·(μ_j∘μ_j). The kernel therefore
/// stores x_ui − c instead of x_ui, with c the integer nearest the mean rating: the
/// distance is unchanged (μ becomes μ − c), the terms shrink about tenfold on 1–5 ratings,
/// and integer and half-star ratings stay exact in Float. The final log-likelihood then
/// agrees with double's to about 1e-7 relative on the course data (the tests allow 1e-5).
public enum Precision: String, CaseIterable, Sendable {
    /// Float64 storage and DGEMM: the reference, and the course's numbers.
    case double
    /// Float32 storage and SGEMM, sums over users in Double.
    case single
}
