// Command cmd regenerates docs/resources.md from the api package. Run it
// from the repository root: go run ./internal/gendocs/cmd
package main

import (
	"fmt"
	"os"

	"github.com/fulcrumlb/fulcrum/internal/gendocs"
)

func main() {
	out, err := gendocs.Resources("api")
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
	if err := os.WriteFile("docs/resources.md", out, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}
