package main

import (
	"net/http"

	"github.com/edged-gateway/edged/runtime/localapi/console"
)

// consoleHandler serves the web console's embedded files.
func consoleHandler() http.Handler { return console.Handler() }
