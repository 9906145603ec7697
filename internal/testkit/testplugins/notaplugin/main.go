// Command notaplugin is not a netabase plugin: it greets and exits.
package main

import "fmt"

func main() { fmt.Println("hello, I am an ordinary program") }
