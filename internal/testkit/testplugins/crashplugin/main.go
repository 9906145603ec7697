// Command crashplugin is a netabase plugin that crashes at start, before
// the plugin handshake: reading its configuration panics.
package main

import (
	"github.com/netabase/netabase/plugins/sdk"
)

func main() { sdk.Serve(loadConfig()) }

func loadConfig() sdk.Config {
	panic("crashplugin: cannot read my configuration: out of cheese")
}
