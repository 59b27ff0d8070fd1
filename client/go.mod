module github.com/signpost-dns/signpost/client

go 1.26.0
