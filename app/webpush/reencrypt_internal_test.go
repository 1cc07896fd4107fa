package webpush

// The additional data of the package's ciphertexts, for reencrypt_test.go.
var (
	VAPIDAADForTest   = vapidAAD
	AuthAADForTest    = authAAD
	PayloadAADForTest = payloadAAD
)
