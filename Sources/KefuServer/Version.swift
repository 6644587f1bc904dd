/// The version kefud reports (`kefud_build_info`).
public enum KefuVersion {
    public static let current = "0.1.0-dev"
}
