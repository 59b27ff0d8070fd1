module github.com/signpost-dns/signpost/client/grpcresolver

go 1.26.0

require (
	github.com/signpost-dns/signpost/client v0.0.0-00010101000000-000000000000
	google.golang.org/grpc v1.84.0
)

require (
	golang.org/x/net v0.61.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.43.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260928230214-8a89bd6388cc // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

replace github.com/signpost-dns/signpost/client => ../
