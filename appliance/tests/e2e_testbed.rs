//! End to end through the testbed: real Linux TCP stacks and OpenSSL in two network namespaces,
//! joined only through the appliance.

mod common;
use common::*;

const TCP_ECHO_SERVER: &str = r#"/usr/bin/python3 -c '
import socket, threading
def serve(fam, addr):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, 8080)); s.listen(64)
    while True:
        c, _ = s.accept()
        data = c.recv(65536)
        c.sendall(data[::-1]); c.close()
threading.Thread(target=serve, args=(socket.AF_INET6, "2001:2::2"), daemon=True).start()
serve(socket.AF_INET, "198.18.0.2")
'"#;

fn tcp_roundtrip(addr: &str) -> bool {
    let fam = if addr.contains(':') {
        "AF_INET6"
    } else {
        "AF_INET"
    };
    let o = netns(
        "acp-client",
        &format!(
            "/usr/bin/python3 -c 'import socket; s=socket.socket(socket.{fam}); s.settimeout(3); s.connect((\"{addr}\", 8080)); s.sendall(b\"hello appliance\"); print(s.recv(100).decode())'"
        ),
    );
    o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "ecnailppa olleh"
}

fn tls_handshake(addr: &str) -> bool {
    let o = netns(
        "acp-client",
        &format!(
            "echo Q | timeout 5 openssl s_client -connect {addr} -servername server.test 2>&1"
        ),
    );
    let out = String::from_utf8_lossy(&o.stdout);
    out.contains("Cipher is TLS_") && out.contains("Verify return code")
}

#[test]
fn tcp_and_tls_pass_only_through_the_appliance() {
    let dir = scratch("testbed-basic");
    let (cert, key) = cert(&dir);
    let _tb = Testbed::up("");
    let _echo = netns_bg("acp-server", TCP_ECHO_SERVER);
    let _tls = netns_bg(
        "acp-server",
        &format!(
            "openssl s_server -accept 443 -cert {} -key {} -quiet",
            cert.display(),
            key.display()
        ),
    );
    wait_listen("acp-server", 8080);
    wait_listen("acp-server", 443);

    // Without the appliance there is no path between the namespaces.
    assert!(
        !tcp_roundtrip("198.18.0.2"),
        "TCP worked without the appliance"
    );
    assert!(
        !tls_handshake("198.18.0.2:443"),
        "TLS worked without the appliance"
    );

    let app = Appliance::start(&dir, &testbed_config(1, ""));
    assert!(
        tcp_roundtrip("198.18.0.2"),
        "TCP over IPv4 through the appliance"
    );
    assert!(
        tcp_roundtrip("2001:2::2"),
        "TCP over IPv6 through the appliance"
    );
    assert!(
        tls_handshake("198.18.0.2:443"),
        "TLS over IPv4 through the appliance"
    );
    assert!(
        tls_handshake("[2001:2::2]:443"),
        "TLS over IPv6 through the appliance"
    );
    let st = app.stop();
    assert!(st.success, "appliance exit status: {:?}", st.stderr);
    assert!(st.total("rx_from_client") > 10 && st.total("rx_from_server") > 10);
    assert_eq!(st.mbufs_not_returned(), 0, "mbuf leak");

    // And once it is gone, the path is gone again.
    assert!(
        !tcp_roundtrip("198.18.0.2"),
        "TCP worked after the appliance stopped"
    );
}
