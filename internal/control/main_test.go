package control_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"testing"
)

// dialEnv, when set, makes the test binary a helper process that dials
// the control socket it names, asks for the node's ID and says what
// happened on stdout: "dialed", then the status line of the answer or
// "closed" when the connection was closed unanswered.
const dialEnv = "NETABASE_CONTROL_TEST_DIAL"

func TestMain(m *testing.M) {
	if sock := os.Getenv(dialEnv); sock != "" {
		os.Exit(dialHelper(sock))
	}
	os.Exit(m.Run())
}

func dialHelper(sock string) int {
	c, err := net.Dial("unix", sock)
	if err != nil {
		fmt.Printf("cannot dial: %v\n", err)
		return 1
	}
	defer c.Close()
	fmt.Println("dialed")
	if _, err := fmt.Fprint(c, "GET /v1/id HTTP/1.1\r\nHost: netabase\r\n\r\n"); err != nil {
		fmt.Println("closed")
		return 0
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		fmt.Println("closed")
		return 0
	}
	fmt.Print(line)
	return 0
}
