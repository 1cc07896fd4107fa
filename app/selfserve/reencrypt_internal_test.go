package selfserve

// The additional data of the package's ciphertexts, for reencrypt_test.go.
var (
	ProofAADForTest         = proofAAD
	AuthenticatorAADForTest = authenticatorAAD
)
