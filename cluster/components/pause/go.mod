// The pod sandbox ("pause") process of the test cluster; see main.go.
module mlkube.test/cluster/pause

go 1.26.0
