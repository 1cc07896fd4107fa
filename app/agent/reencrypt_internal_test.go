package agent

import (
	"context"

	"github.com/latchkey/latchkey/app/rekey"
)

// The additional data of the package's ciphertexts, for reencrypt_test.go.
var (
	SettingsAADForTest = settingsAAD
	TaskAADForTest     = taskAAD
)

// WithBeforeRekeyWriteForTest has the package's Reencrypt functions run
// fn between reading a page of rows and writing it.
func WithBeforeRekeyWriteForTest(ctx context.Context, fn func()) context.Context {
	return rekey.WithBeforeWrite(ctx, fn)
}
