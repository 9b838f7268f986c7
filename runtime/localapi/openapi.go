package localapi

import _ "embed"

// openAPI is the OpenAPI 3.1 document of every route, served at
// GET /api/v1/openapi.json. It is written by hand; openapi_test.go checks
// it against the routes and the answers.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the API's OpenAPI document (a copy).
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }
