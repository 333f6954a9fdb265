module mlkube.io/gateway

go 1.26
