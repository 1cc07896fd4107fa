package verify

// CodeAADForTest is the additional data of a verification's code, for
// reencrypt_test.go.
var CodeAADForTest = codeAAD
