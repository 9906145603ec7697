package config_test

import (
	"fmt"

	"github.com/netabase/netabase/core/config"
)

func ExampleParse() {
	doc := []byte(`
storage = "memory://"
mode = "server"

[limits]
conn_high_water = 50
conn_low_water = 80
`)
	_, err := config.Parse("/home/me/.netabase/config.toml", doc, "/home/me/.netabase")
	fmt.Println(err)

	c, err := config.Parse("config.toml", []byte(`mode = "client"`), "/home/me/.netabase")
	fmt.Println(c.Mode, c.Storage, err)
	// Output:
	// /home/me/.netabase/config.toml:6: key limits.conn_high_water: is 50, below limits.conn_low_water (80); it must be at least as large
	// client pebble:///home/me/.netabase/store <nil>
}
