module hivekeeper.bench/tcpecho

go 1.22
