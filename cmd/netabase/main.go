// Command netabase runs and inspects netabase nodes and their storage.
package main

import "os"

func main() { os.Exit(Main(os.Args[1:], newEnv(os.Stdout, os.Stderr))) }
