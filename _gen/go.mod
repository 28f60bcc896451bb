module github.com/tapir-ml/tapir/_gen

go 1.24

require github.com/mmcloughlin/avo v0.6.0

// golang.org/x/tools is held above avo v0.6.0's own requirement (v0.16.1),
// which does not compile with Go 1.26.
require (
	golang.org/x/mod v0.23.0 // indirect
	golang.org/x/sync v0.11.0 // indirect
	golang.org/x/tools v0.30.0 // indirect
)
