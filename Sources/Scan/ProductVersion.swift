/// The product's version, shown by `--version`, in SBOMs and to sensors.
public enum ProductVersion {
    public static let current = "0.1.0"
}
