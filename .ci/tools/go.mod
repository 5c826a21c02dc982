// Tools CI runs, pinned here so go.sum checks them and a fresh machine with
// an empty module cache fetches exactly these versions. Kept apart from the
// main module so the linters' dependencies never reach the library's users.
module github.com/leviathan-gossip/leviathan/.ci/tools

go 1.26.0

tool honnef.co/go/tools/cmd/staticcheck

require github.com/prometheus/client_golang v1.25.0

require (
	github.com/BurntSushi/toml v1.4.1-0.20240526193622-a339e1f7089c // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/prometheus/client_model v0.6.3 // indirect
	github.com/prometheus/common v0.72.0 // indirect
	golang.org/x/exp/typeparams v0.0.0-20231108232855-2478ac86f678 // indirect
	golang.org/x/mod v0.41.0 // indirect
	golang.org/x/sync v0.23.0 // indirect
	golang.org/x/tools v0.51.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
	honnef.co/go/tools v0.8.2 // indirect
)
