package web

import "net"

func netParseCIDR(s string) (net.IP, *net.IPNet, error) { return net.ParseCIDR(s) }
