package main

import (
	"testing"

	"github.com/netabase/netabase/plugins/sdk/sdktest"
)

// TestPlugin runs the conformance suite on this plugin through netabase's
// plugin host, as a node admits it.
func TestPlugin(t *testing.T) { sdktest.Run(t, config()) }
