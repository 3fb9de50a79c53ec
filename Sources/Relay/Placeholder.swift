public enum RelayPlaceholder {}
