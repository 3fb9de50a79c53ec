public enum ReactorPlaceholder {}
