// Command latchkey runs the Latchkey server; see `latchkey help`.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/latchkey/latchkey/app"
)

func main() {
	if err := app.Run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "latchkey:", err)
		os.Exit(1)
	}
}
