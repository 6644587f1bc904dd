import ArgumentParser
import Crypto

/// Ops command line for kefud.
@main
struct KefuCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kefuctl",
        abstract: "Operate a kefud chat router.",
        subcommands: [HashToken.self]
    )
}

/// Prints the SHA-256 hex of a login token, as `token_sha256` in the configuration expects it.
struct HashToken: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hash-token",
        abstract: "Print the SHA-256 hex of a token for the config's token_sha256 keys."
    )

    @Argument(help: "The token. Use - to read it from standard input (keeps it out of shell history).")
    var token: String

    func run() throws {
        var secret = token
        if token == "-" {
            guard let line = readLine(strippingNewline: true) else {
                throw ValidationError("no token on standard input")
            }
            secret = line
        }
        guard !secret.isEmpty else { throw ValidationError("the token is empty") }
        print(SHA256.hash(data: Array(secret.utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined())
    }
}
