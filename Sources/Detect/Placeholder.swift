public enum DetectPlaceholder {}
